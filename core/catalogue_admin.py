"""What an organiser edits of an event's offer: items, their dimensions and variants, stock per variant, shared
pools, pictures and prices.

The attendee's side (the catalogue as the order form sees it) is core/catalogue.py; stock is taken and given
back by core/stock.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, object_session, selectinload

from core import audit
from core.auth import Actor, Permission, require
from core.catalogue import (
    ITEM_KEY,
    Dimension,
    current_variant_keys,
    parse_dimensions,
    variant_combinations,
    variant_label,
)
from core.errors import DomainError, FormValidationError, NotFound, SchemaError
from core.images import prepare_image
from core.models import Event, Item, StockPool, Variant


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
    if not ITEM_KEY.fullmatch(key):
        raise SchemaError(f"Item key '{key}' must be lower-case letters, digits and underscores.")
    if max_per_order < 1:
        raise SchemaError(f"Item '{key}': the maximum per order must be at least 1.")
    item = Item(event=event, key=key, name=name, description=description, price=price, max_per_order=max_per_order,
                dimensions=[{"name": d.name, "label": d.label, "options": list(d.options)} for d in parsed],
                position=len(event.items))
    for key_of_variant, options in variant_combinations(parsed):
        item.variants.append(Variant(key=key_of_variant, options=options))
    session.add(item)
    return item


EDITABLE = frozenset({"name", "description", "price", "max_per_order", "active", "position", "dimensions"})
# No order line can exceed core.forms.MAX_QUANTITY anyway; this also keeps the value inside a 32-bit column.
MAX_PER_ORDER = 1000
MAX_POSITION = 100_000
MAX_VARIANTS = 1000
MAX_DESCRIPTION_LENGTH = 2000
MAX_PRICE = Decimal("99999999.99")  # Numeric(10, 2)
ITEM_IMAGE_SIDE = 800  # shown small beside the item on the form


@dataclass(frozen=True)
class VariantForEdit:
    """A variant as the organiser edits it; `stock` None means unlimited, `sold` counts non-cancelled units."""

    key: str
    label: str
    active: bool
    stock: int | None = None
    sold: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.stock is None else max(0, self.stock - self.sold)


@dataclass(frozen=True)
class PoolForEdit:
    """A shared stock ("T-shirts: 200 whatever the size") and the keys of the items that draw on it."""

    name: str
    capacity: int
    sold: int
    item_keys: tuple[str, ...]

    @property
    def remaining(self) -> int:
        return max(0, self.capacity - self.sold)


@dataclass(frozen=True)
class ItemForEdit:
    """An item as the organiser edits it; `variants` are the current combinations (retired ones left out)."""

    key: str
    name: str
    description: str
    price: Decimal | None
    max_per_order: int
    active: bool
    position: int
    dimensions: tuple[Dimension, ...]
    variants: tuple[VariantForEdit, ...]
    has_image: bool = False
    pool: str | None = None  # the name of the shared stock it draws on

    @property
    def dimension_lines(self) -> str:
        return format_dimension_lines(self.dimensions)


def format_dimension_lines(dimensions: Sequence[Dimension]) -> str:
    """Dimensions as the organiser types them, one per line: "Size: S, M, L"."""
    return "\n".join(f"{d.label}: {', '.join(d.options)}" for d in dimensions)


def parse_dimension_lines(text: str, existing: Sequence[Dimension] = ()) -> list[dict[str, Any]]:
    """Dimension definitions from lines like "Size: S, M, L" (blank lines skipped).

    A line whose label matches an existing dimension keeps that dimension's name, so its variants stay the same;
    otherwise the name is made from the label. Raises SchemaError naming the line.
    """
    dimensions: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        label, colon, options = line.partition(":")
        label = label.strip()
        if not colon or not label:
            raise SchemaError(f"Line {number}: write a dimension as its name, a colon and its options, "
                              "e.g. 'Size: S, M, L'.")
        name = next((d.name for d in existing if d.label.casefold() == label.casefold()), _name_from_label(label))
        dimensions.append({"name": name, "label": label,
                           "options": [option.strip() for option in options.split(",") if option.strip()]})
    return dimensions


def _name_from_label(label: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", label.casefold()).strip("_")
    if name and not name[0].isalpha():
        name = f"d_{name}"
    return name[:40].rstrip("_")


def list_items_for_edit(session: Session, actor: Actor, event_id: int) -> list[ItemForEdit]:
    """Every item of the event (inactive ones too), in display order; raises PermissionDenied or NotFound."""
    require(session, actor, Permission.EVENT_VIEW, event_id)
    _event(session, event_id)
    items = session.scalars(
        select(Item).where(Item.event_id == event_id).order_by(Item.position, Item.id)
        .options(selectinload(Item.variants))
    ).all()
    return [_for_edit(item) for item in items]


def create_item_for(
    session: Session,
    actor: Actor,
    event_id: int,
    *,
    key: str,
    name: str,
    description: str = "",
    price: Decimal | int | str | None = None,
    max_per_order: int = 10,
    dimensions: str | Sequence[Mapping[str, Any]] = (),
) -> ItemForEdit:
    """Add an item with a variant per combination of its dimensions (given as dicts, or as lines "Size: S, M").

    Raises FormValidationError mapping each bad input (key, name, description, price, max_per_order,
    dimensions) to its message, PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    errors: dict[str, str] = {}
    key = key.strip()
    if not ITEM_KEY.fullmatch(key):
        errors["key"] = "Use lower-case letters, digits and _, starting with a letter (at most 40)."
    elif session.scalar(select(Item.id).where(Item.event_id == event_id, Item.key == key)) is not None:
        errors["key"] = f"This event already has an item with the key '{key}'."
    values = _checked({"name": name, "description": description, "price": price, "max_per_order": max_per_order,
                       "dimensions": dimensions}, (), errors)
    if errors:
        raise FormValidationError(errors)
    item = add_item(session, event, key=key, name=values["name"], description=values["description"],
                    price=values["price"], max_per_order=values["max_per_order"], dimensions=values["dimensions"])
    session.flush()
    audit.record(session, actor, "item.created", event=event, subject=f"item:{key}",
                 details={"item": key, "variants": len(item.variants)})
    return _for_edit(item)


def update_item(
    session: Session, actor: Actor, event_id: int, item_key: str, changes: Mapping[str, Any]
) -> ItemForEdit:
    """Change an item's name, description, price, max_per_order, active, position and/or dimensions.

    New dimension options add their variants; variants of removed options are switched off, never deleted,
    because order lines refer to them. Raises FormValidationError per bad input, PermissionDenied or NotFound.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    item = _item(session, event_id, item_key)
    errors: dict[str, str] = {}
    values = _checked(changes, parse_dimensions(item.dimensions), errors)
    if errors:
        raise FormValidationError(errors)
    changed = [attribute for attribute, value in values.items()
               if attribute != "dimensions" and getattr(item, attribute) != value]
    for attribute in changed:
        setattr(item, attribute, values[attribute])
    added: list[str] = []
    retired: list[str] = []
    if "dimensions" in values and values["dimensions"] != item.dimensions:
        added, retired = _apply_dimensions(item, parse_dimensions(values["dimensions"]))
        changed.append("dimensions")
    if changed:
        session.flush()
        audit.record(session, actor, "item.updated", event=event, subject=f"item:{item.key}",
                     details={"item": item.key, "changed": sorted(changed), "variants_added": added,
                              "variants_retired": retired})
    return _for_edit(item)


def set_variant_active(
    session: Session, actor: Actor, event_id: int, item_key: str, variant_key: str, active: bool
) -> VariantForEdit:
    """Offer a variant again or stop offering it (e.g. sold out); raises PermissionDenied or NotFound."""
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    item = _item(session, event_id, item_key)
    dimensions = parse_dimensions(item.dimensions)
    variant = _current_variant(item, variant_key, dimensions)
    if variant.active != active:
        variant.active = active
        audit.record(session, actor, "variant.toggled", event=event, subject=f"item:{item.key}",
                     details={"item": item.key, "variant": variant.key, "active": active})
    return _variant_for_edit(variant, dimensions)


MAX_STOCK = 1_000_000


def set_variant_stock(
    session: Session, actor: Actor, event_id: int, item_key: str, variant_key: str, stock: int | None
) -> VariantForEdit:
    """Set how many units of a variant may be sold in all (None: unlimited).

    Raises FormValidationError under "stock" when it is below the units already sold (checked in the UPDATE
    itself, so an order arriving meanwhile cannot slip under it), PermissionDenied or NotFound. Raising the
    stock reopens an event that had closed itself because everything was sold out.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    item = _item(session, event_id, item_key)
    dimensions = parse_dimensions(item.dimensions)
    variant = _current_variant(item, variant_key, dimensions)
    if stock is not None:
        try:
            stock = _whole_number(stock, 0, MAX_STOCK, f"Enter a whole number from 0 to {MAX_STOCK}, or nothing.")
        except SchemaError as exc:
            raise FormValidationError({"stock": str(exc)}) from None
    old = variant.stock
    if stock != old:
        changed = session.execute(
            update(Variant).where(Variant.id == variant.id, *([] if stock is None else [Variant.sold <= stock]))
            .values(stock=stock).execution_options(synchronize_session=False)).rowcount
        session.refresh(variant, ["stock", "sold"])
        if changed != 1:
            raise FormValidationError({"stock": f"{variant.sold} are already sold: enter at least that many, "
                                                "or nothing for no limit."})
        _reopen_if_more(event, old, stock)
        audit.record(session, actor, "variant.stock_set", event=event, subject=f"item:{item.key}",
                     details={"item": item.key, "variant": variant.key, "old": old, "new": stock})
    return _variant_for_edit(variant, dimensions)


@dataclass(frozen=True)
class CatalogueOverview:
    """What the Items page shows: every item for editing, and the shared stocks."""

    items: list[ItemForEdit]
    pools: list[PoolForEdit]


def catalogue_overview(session: Session, actor: Actor, event_id: int) -> CatalogueOverview:
    """The event's items and shared stocks; raises PermissionDenied or NotFound."""
    return CatalogueOverview(list_items_for_edit(session, actor, event_id), list_pools(session, actor, event_id))


@dataclass(frozen=True)
class VariantEdit:
    """What the organiser wants for one variant: offered or not, and its stock (None: no limit)."""

    variant_key: str
    offered: bool
    stock: int | None


def edit_variants(session: Session, actor: Actor, event_id: int, item_key: str,
                  wanted: Sequence[VariantEdit]) -> tuple[str, ...]:
    """Switch variants on or off and set their stock where `wanted` differs from what is stored.

    Returns one sentence per change ("T-shirt (M) is switched off", "T-shirt (L): stock 20"), none when nothing
    changed. Raises DomainError naming the variant whose stock is refused, PermissionDenied or NotFound.
    """
    item = next((found for found in list_items_for_edit(session, actor, event_id) if found.key == item_key), None)
    if item is None:
        raise NotFound("There is no such item in this event.")
    stored = {variant.key: variant for variant in item.variants}
    toggled = [(stored[w.variant_key], w.offered) for w in wanted if w.offered != stored[w.variant_key].active]
    restocked = [(stored[w.variant_key], w.stock) for w in wanted if w.stock != stored[w.variant_key].stock]
    for variant, offered in toggled:
        set_variant_active(session, actor, event_id, item_key, variant.key, offered)
    for variant, stock in restocked:
        try:
            set_variant_stock(session, actor, event_id, item_key, variant.key, stock)
        except FormValidationError as exc:
            raise DomainError(f"{_named(item, variant)}: {' '.join(exc.errors.values())}") from None
    return tuple([f"{_named(item, v)} is {'offered' if offered else 'switched off'}" for v, offered in toggled]
                 + [f"{_named(item, v)}: {'no limit' if stock is None else f'stock {stock}'}" for v, stock in restocked])


def _named(item: ItemForEdit, variant: VariantForEdit) -> str:
    return f"{item.name} ({variant.label})" if variant.label else item.name


def list_pools(session: Session, actor: Actor, event_id: int) -> list[PoolForEdit]:
    """The event's shared stocks by name, with what is sold and which items draw on each."""
    require(session, actor, Permission.EVENT_VIEW, event_id)
    _event(session, event_id)
    pools = session.scalars(select(StockPool).where(StockPool.event_id == event_id).order_by(StockPool.name)).all()
    members: dict[int, list[str]] = {}
    for pool_id, key in session.execute(select(Item.pool_id, Item.key).where(
            Item.event_id == event_id, Item.pool_id.is_not(None)).order_by(Item.position, Item.id)):
        members.setdefault(pool_id, []).append(key)
    return [PoolForEdit(pool.name, pool.capacity, pool.sold, tuple(members.get(pool.id, ()))) for pool in pools]


def save_pool(
    session: Session, actor: Actor, event_id: int, *, name: str, capacity: int, old_name: str | None = None
) -> PoolForEdit:
    """Create a shared stock, or (with `old_name`) rename or resize one.

    Raises FormValidationError under "name" or "capacity" (a capacity below the units already sold is refused,
    inside the UPDATE), PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    errors: dict[str, str] = {}
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        errors["name"] = "Give the shared stock a name of at most 200 characters."
    try:
        capacity = _whole_number(capacity, 0, MAX_STOCK, f"Enter a whole number from 0 to {MAX_STOCK}.")
    except SchemaError as exc:
        errors["capacity"] = str(exc)
    pool = _pool(session, event_id, old_name) if old_name is not None else None
    if not errors.get("name") and name != old_name and session.scalar(
            select(StockPool.id).where(StockPool.event_id == event_id, StockPool.name == name)) is not None:
        errors["name"] = f"There is already a shared stock called '{name}'."
    if errors:
        raise FormValidationError(errors)
    if pool is None:
        pool = StockPool(event_id=event_id, name=name, capacity=capacity, sold=0)
        session.add(pool)
        session.flush()
        audit.record(session, actor, "pool.created", event=event, subject=f"pool:{pool.id}",
                     details={"capacity": capacity})
    elif (name, capacity) != (pool.name, pool.capacity):
        old_capacity = pool.capacity
        changed = session.execute(
            update(StockPool).where(StockPool.id == pool.id, StockPool.sold <= capacity)
            .values(name=name, capacity=capacity).execution_options(synchronize_session=False)).rowcount
        session.refresh(pool, ["name", "capacity", "sold"])
        if changed != 1:
            raise FormValidationError({"capacity": f"{pool.sold} are already sold: enter at least that many."})
        _reopen_if_more(event, old_capacity, capacity)
        audit.record(session, actor, "pool.updated", event=event, subject=f"pool:{pool.id}",
                     details={"old_capacity": old_capacity, "capacity": capacity})
    return next(p for p in list_pools(session, actor, event_id) if p.name == pool.name)


def delete_pool(session: Session, actor: Actor, event_id: int, name: str) -> None:
    """Remove a shared stock; its items keep only their variants' own stock. Raises PermissionDenied, NotFound."""
    require(session, actor, Permission.EVENT_EDIT, event_id)
    pool = _pool(session, event_id, name)
    session.execute(update(Item).where(Item.pool_id == pool.id).values(pool_id=None)
                    .execution_options(synchronize_session=False))
    for item in session.scalars(select(Item).where(Item.event_id == event_id)):
        session.expire(item, ["pool_id"])
    audit.record(session, actor, "pool.deleted", event=event_id, subject=f"pool:{pool.id}")
    session.delete(pool)


def set_item_pool(session: Session, actor: Actor, event_id: int, item_key: str, pool_name: str | None) -> ItemForEdit:
    """Make an item draw on a shared stock (or on none, with None).

    The units its variants already sold move with it, so a pool's `sold` stays the sum over its items. Raises
    PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    event = _event(session, event_id)
    item = _item(session, event_id, item_key)
    pool = _pool(session, event_id, pool_name) if pool_name is not None else None
    new_id = pool.id if pool is not None else None
    if item.pool_id == new_id:
        return _for_edit(item)
    # Row locks (PostgreSQL) on the item's variants first, as take_stock's order has it, so `sold` cannot move.
    sold = sum(session.scalars(select(Variant.sold).where(Variant.item_id == item.id).order_by(Variant.id)
                               .with_for_update()))
    for pool_id, change in ((item.pool_id, -sold), (new_id, sold)):
        if pool_id is not None and change:
            session.execute(update(StockPool).where(StockPool.id == pool_id)
                            .values(sold=case((StockPool.sold + change >= 0, StockPool.sold + change), else_=0))
                            .execution_options(synchronize_session=False))
            if (loaded := session.get(StockPool, pool_id)) is not None:
                session.expire(loaded, ["sold"])
    old_name = session.scalar(select(StockPool.name).where(StockPool.id == item.pool_id)) if item.pool_id else None
    item.pool_id = new_id
    audit.record(session, actor, "item.pool_set", event=event, subject=f"item:{item.key}",
                 details={"item": item.key, "old": old_name, "new": pool_name})
    return _for_edit(item)


def _reopen_if_more(event: Event, old: int | None, new: int | None) -> None:
    """More stock than before: an event that closed itself as sold out takes orders again."""
    if event.sold_out_at is not None and (new is None or (old is not None and new > old)):
        event.sold_out_at = None


def _current_variant(item: Item, variant_key: str, dimensions: tuple[Dimension, ...]) -> Variant:
    """The item's variant `variant_key` if its options are still offered; raises NotFound otherwise."""
    variant = next((v for v in item.variants if v.key == variant_key), None)
    if variant is None or variant_key not in current_variant_keys(dimensions):
        raise NotFound(f"{item.name} has no variant '{variant_key}'.")
    return variant


def _variant_for_edit(variant: Variant, dimensions: tuple[Dimension, ...]) -> VariantForEdit:
    return VariantForEdit(key=variant.key, label=variant_label(dimensions, variant.options), active=variant.active,
                          stock=variant.stock, sold=variant.sold)


def _pool(session: Session, event_id: int, name: str) -> StockPool:
    pool = session.scalars(select(StockPool).where(StockPool.event_id == event_id, StockPool.name == name)).first()
    if pool is None:
        raise NotFound(f"This event has no shared stock '{name}'.")
    return pool


def set_item_image(session: Session, actor: Actor, event_id: int, item_key: str, data: bytes | None) -> None:
    """Store a cleaned copy of an uploaded picture of the item (`images.prepare_image`), or remove it with None.

    Raises SchemaError for files that are not safe, readable images, PermissionDenied or NotFound.
    """
    require(session, actor, Permission.EVENT_EDIT, event_id)
    item = _item(session, event_id, item_key)
    if data is None:
        item.image, item.image_type = None, None
    else:
        item.image, item.image_type = prepare_image(data, max_side=ITEM_IMAGE_SIDE)
    audit.record(session, actor, "item.image_changed", event=event_id, subject=f"item:{item.key}",
                 details={"item": item.key, "removed": data is None})


def parse_price(value: object) -> Decimal | None:
    """A price from a Decimal, whole number or text such as "12.50"; empty means no price. Raises SchemaError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, str)):
        raise SchemaError("Enter a price such as 12.50, or leave it empty.")
    try:
        price = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise SchemaError("Enter a price such as 12.50, or leave it empty.") from None
    if not price.is_finite():
        raise SchemaError("Enter a price such as 12.50, or leave it empty.")
    if price < 0:
        raise SchemaError("A price cannot be negative.")
    if price > MAX_PRICE:
        raise SchemaError(f"A price can be at most {MAX_PRICE}.")
    if price != price.quantize(Decimal("0.01")):
        raise SchemaError("Use at most two decimal places.")
    return price


def _checked(values: Mapping[str, Any], existing: Sequence[Dimension], errors: dict[str, str]) -> dict[str, Any]:
    """Check and normalise item attributes; each problem goes to `errors` under the attribute's name."""
    checked: dict[str, Any] = {}
    for attribute, value in values.items():
        try:
            checked[attribute] = _CHECKS[attribute](value, existing)
        except SchemaError as exc:
            errors[attribute] = str(exc)
    return checked


def _check_name(value: object, _existing: Sequence[Dimension]) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise SchemaError("Give the item a name.")
    if len(name) > 200:
        raise SchemaError("Use at most 200 characters.")
    return name


def _check_description(value: object, _existing: Sequence[Dimension]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SchemaError("Enter text.")
    if len(value.strip()) > MAX_DESCRIPTION_LENGTH:
        raise SchemaError(f"Use at most {MAX_DESCRIPTION_LENGTH} characters.")
    return value.strip()


def _check_price(value: object, _existing: Sequence[Dimension]) -> Decimal | None:
    return parse_price(value)


def _whole_number(value: object, low: int, high: int, message: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # number inputs hand over floats
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SchemaError(message)
    return int(value)


def _check_max_per_order(value: object, _existing: Sequence[Dimension]) -> int:
    return _whole_number(value, 1, MAX_PER_ORDER, f"Enter a whole number from 1 to {MAX_PER_ORDER}.")


def _check_position(value: object, _existing: Sequence[Dimension]) -> int:
    return _whole_number(value, 0, MAX_POSITION, f"Enter a whole number from 0 to {MAX_POSITION}.")


def _check_active(value: object, _existing: Sequence[Dimension]) -> bool:
    if not isinstance(value, bool):
        raise SchemaError("Either on or off.")
    return value


def _check_dimensions(value: object, existing: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Stored dimension definitions from lines or dicts; refuses more than MAX_VARIANTS combinations."""
    raw = parse_dimension_lines(value, existing) if isinstance(value, str) else value
    if not isinstance(raw, (list, tuple)) or not all(isinstance(d, Mapping) for d in raw):
        raise SchemaError("Give each dimension a name and options.")
    parsed = parse_dimensions(raw)
    count = math.prod(len(d.options) for d in parsed)
    if count > MAX_VARIANTS:
        raise SchemaError(f"These dimensions make {count} variants; at most {MAX_VARIANTS} are possible.")
    return [{"name": d.name, "label": d.label, "options": list(d.options)} for d in parsed]


_CHECKS = {
    "name": _check_name,
    "description": _check_description,
    "price": _check_price,
    "max_per_order": _check_max_per_order,
    "position": _check_position,
    "active": _check_active,
    "dimensions": _check_dimensions,
}


def _apply_dimensions(item: Item, dimensions: tuple[Dimension, ...]) -> tuple[list[str], list[str]]:
    """Give `item` new dimensions: add or switch on the new combinations, switch off the dropped ones.

    A variant that stays a combination keeps its on/off state. Returns the added and the retired variant keys.
    """
    before = current_variant_keys(parse_dimensions(item.dimensions))
    item.dimensions = [{"name": d.name, "label": d.label, "options": list(d.options)} for d in dimensions]
    existing = {variant.key: variant for variant in item.variants}
    added: list[str] = []
    for key, options in variant_combinations(dimensions):
        variant = existing.get(key)
        if variant is None:
            item.variants.append(Variant(key=key, options=options))
            added.append(key)
            continue
        if variant.options != options:
            variant.options = options  # a dimension renamed: same values, new names
        if key not in before:
            variant.active = True  # an option offered again
            added.append(key)
    after = current_variant_keys(dimensions)
    retired = [variant.key for variant in existing.values() if variant.key in before and variant.key not in after]
    for key in retired:
        existing[key].active = False
    return added, retired


def _for_edit(item: Item) -> ItemForEdit:
    dimensions = parse_dimensions(item.dimensions)
    by_key = {variant.key: variant for variant in item.variants}
    variants = tuple(_variant_for_edit(by_key[key], dimensions)
                     for key, _ in variant_combinations(dimensions) if key in by_key)
    pool = None
    if item.pool_id is not None:
        pool = object_session(item).scalar(select(StockPool.name).where(StockPool.id == item.pool_id))  # type: ignore[union-attr]
    return ItemForEdit(key=item.key, name=item.name, description=item.description, price=item.price,
                       max_per_order=item.max_per_order, active=item.active, position=item.position,
                       dimensions=dimensions, variants=variants, has_image=item.image_type is not None, pool=pool)


def _event(session: Session, event_id: int) -> Event:
    event = session.get(Event, event_id)
    if event is None:
        raise NotFound("There is no such event.")
    return event


def _item(session: Session, event_id: int, item_key: str) -> Item:
    item = session.scalars(
        select(Item).where(Item.event_id == event_id, Item.key == item_key).options(selectinload(Item.variants))
    ).first()
    if item is None:
        raise NotFound(f"This event has no item '{item_key}'.")
    return item
