"""Items and variants: what an event offers, adding and editing items, switching single variants on or off,
their stock, and stock shared by several items."""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Callable, Mapping

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core import catalogue_admin
from core.auth import Actor
from core.catalogue_admin import ItemForEdit, PoolForEdit, VariantForEdit
from core.db import read_only, unit_of_work
from core.errors import DomainError, FormValidationError
from core.event_admin import EventSummary
from pages import runtime

SAVED_KEY = "catalogue.saved"
# Bumped after every successful change, so that forms and tables are drawn afresh from the database.
GENERATION_KEY = "catalogue.generation"
DIMENSIONS_PLACEHOLDER = "Size: S, M, L, XL\nColour: Black, Forest green"
NO_POOL = "Only its own stock"
# What an empty Stock or Left cell means.
UNLIMITED = "Unlimited"


def render() -> None:
    actor = runtime.require_actor()
    event = runtime.choose_event(actor)
    if event is None:
        return
    st.title("Items")
    st.caption(event.title)
    try:
        with read_only(runtime.engine()) as session:
            items = catalogue_admin.list_items_for_edit(session, actor, event.id)
            pools = catalogue_admin.list_pools(session, actor, event.id)
    except DomainError as exc:
        st.error(str(exc))
        return
    if saved := st.session_state.pop(SAVED_KEY, None):
        st.success(saved, icon=":material/check_circle:")
    generation = st.session_state.get(GENERATION_KEY, 0)
    if items:
        st.dataframe([_summary(item) for item in items], hide_index=True)
        by_key = {item.key: item for item in items}
        chosen = st.selectbox("Item to edit", list(by_key), format_func=lambda key: by_key[key].name,
                              key=f"catalogue.chosen.{event.id}")
        _edit_form(actor, event, by_key[chosen], generation)
        _picture(actor, event, by_key[chosen], generation)
        _item_pool(actor, event, by_key[chosen], pools)
        _variant_table(actor, event, by_key[chosen])
    else:
        st.info("This event offers nothing yet. Add the first item below.", icon=":material/inventory_2:")
    _add_form(actor, event, generation)
    _pools(actor, event, pools, generation)


def _summary(item: ItemForEdit) -> dict[str, object]:
    offered = sum(variant.active for variant in item.variants)
    return {"Key": item.key, "Name": item.name, "Price": "" if item.price is None else f"{item.price:.2f}",
            "Max per order": item.max_per_order, "Active": item.active,
            "Dimensions": " × ".join(d.label for d in item.dimensions) or "—",
            "Variants on": f"{offered} of {len(item.variants)}", "Shared stock": item.pool or "—"}


def _edit_form(actor: Actor, event: EventSummary, item: ItemForEdit, generation: int) -> None:
    st.subheader(f"Edit {item.name}")
    # The event is part of the key: items of two events may share a key, and their inputs must not.
    form = f"catalogue.edit.{event.id}.{item.key}.{generation}"
    with st.form(form):
        slots: dict[str, DeltaGenerator] = {}
        name = st.text_input("Name", value=item.name, max_chars=200, key=f"{form}.name")
        slots["name"] = st.empty()
        description = st.text_area("Description", value=item.description, key=f"{form}.description")
        slots["description"] = st.empty()
        price = st.text_input("Price", value="" if item.price is None else f"{item.price:.2f}",
                              help="Leave empty when there is nothing to pay.", key=f"{form}.price")
        slots["price"] = st.empty()
        max_per_order = st.number_input("Max per order", min_value=1, max_value=catalogue_admin.MAX_PER_ORDER,
                                        value=item.max_per_order, step=1, key=f"{form}.max_per_order")
        slots["max_per_order"] = st.empty()
        position = st.number_input("Position", min_value=0, max_value=catalogue_admin.MAX_POSITION, value=item.position,
                                   step=1, help="Items are offered in this order.", key=f"{form}.position")
        slots["position"] = st.empty()
        active = st.checkbox("Offered", value=item.active, help="Untick to stop offering the whole item.",
                             key=f"{form}.active")
        slots["active"] = st.empty()
        dimensions = st.text_area("Dimensions", value=item.dimension_lines, placeholder=DIMENSIONS_PLACEHOLDER,
                                  help="One per line: a name, a colon, the options. Removed options switch their "
                                       "variants off; orders keep what they ordered.", key=f"{form}.dimensions")
        slots["dimensions"] = st.empty()
        if st.form_submit_button("Save changes", type="primary"):
            changes = {"name": name, "description": description, "price": price, "max_per_order": max_per_order,
                       "position": position, "active": active, "dimensions": dimensions}
            _change(slots, lambda session: catalogue_admin.update_item(session, actor, event.id, item.key, changes),
                    f"Saved {name.strip() or item.name}.")


def _picture(actor: Actor, event: EventSummary, item: ItemForEdit, generation: int) -> None:
    """Upload or remove the item's picture; core re-encodes it without metadata."""
    st.markdown(f"**Picture of {item.name}**")
    st.caption("Shown beside the item on the order form." if item.has_image else "No picture yet.")
    upload = st.file_uploader("Upload a picture", type=["png", "jpg", "jpeg", "webp", "gif"],
                              key=f"catalogue.picture.{event.id}.{item.key}.{generation}",
                              help="PNG, JPEG, WebP or GIF up to 5 MB; scaled to at most 800 pixels.")
    remove = item.has_image and st.button("Remove the picture", key=f"catalogue.picture.remove.{item.key}")
    if upload is None and not remove:
        return
    try:
        with unit_of_work(runtime.engine()) as session:
            catalogue_admin.set_item_image(session, actor, event.id, item.key, None if remove else upload.getvalue())
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.session_state[SAVED_KEY] = f"Picture of {item.name} {'removed' if remove else 'saved'}."
    st.session_state[GENERATION_KEY] = generation + 1  # a fresh, empty uploader
    st.rerun()


def _variant_table(actor: Actor, event: EventSummary, item: ItemForEdit) -> None:
    """Each variant: offered or not, its stock (empty: no limit), what is sold and left."""
    st.markdown(f"**Variants and stock of {item.name}**")
    # The key follows the stored values, so that after a change the editor starts afresh from the database.
    states = "".join(f"{v.key}={v.active},{v.stock},{v.sold};" for v in item.variants)
    state = hashlib.sha1(f"{event.id}:{item.key}:{states}".encode()).hexdigest()[:12]
    edited = st.data_editor(
        [{"Variant": variant.label or item.name, "Offered": variant.active, "Stock": variant.stock,
          "Sold": variant.sold, "Left": variant.remaining} for variant in item.variants],
        key=f"catalogue.variants.{item.key}.{state}", hide_index=True, disabled=["Variant", "Sold", "Left"],
        placeholder=UNLIMITED,  # an empty Stock or Left cell, which would read "None"
        column_config={
            "Offered": st.column_config.CheckboxColumn("Offered", help="Untick to stop offering it."),
            "Stock": st.column_config.NumberColumn("Stock", min_value=0, max_value=catalogue_admin.MAX_STOCK, step=1,
                                                   help="How many can be sold in all; empty means no limit."),
            "Left": st.column_config.NumberColumn("Left", help="Unlimited: no limit of its own."),
        },
    )
    toggled, restocked = [], []
    for variant, row in zip(item.variants, edited, strict=True):
        if bool(row["Offered"]) != variant.active:
            toggled.append((variant, bool(row["Offered"])))
        stock = typed_stock(row["Stock"])
        if stock != variant.stock:
            restocked.append((variant, stock))
    if not toggled and not restocked:
        return
    failing = item.variants[0]
    try:
        with unit_of_work(runtime.engine()) as session:
            for variant, offered in toggled:
                catalogue_admin.set_variant_active(session, actor, event.id, item.key, variant.key, offered)
            for failing, stock in restocked:
                catalogue_admin.set_variant_stock(session, actor, event.id, item.key, failing.key, stock)
    except FormValidationError as exc:
        st.error(f"{_named(item, failing)}: {' '.join(exc.errors.values())}", icon=":material/error:")
        return
    except DomainError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.session_state[SAVED_KEY] = "; ".join(
        [f"{_named(item, v)} is {'offered' if offered else 'switched off'}" for v, offered in toggled]
        + [f"{_named(item, v)}: {'no limit' if stock is None else f'stock {stock}'}" for v, stock in restocked]) + "."
    st.rerun()


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


def _named(item: ItemForEdit, variant: VariantForEdit) -> str:
    return f"{item.name} ({variant.label})" if variant.label else item.name


def _item_pool(actor: Actor, event: EventSummary, item: ItemForEdit, pools: list[PoolForEdit]) -> None:
    """Which shared stock the item draws on, if any."""
    if not pools:
        return
    names = [NO_POOL] + [pool.name for pool in pools]
    chosen = st.selectbox(f"Shared stock {item.name} draws on", names,
                          index=names.index(item.pool) if item.pool in names else 0,
                          key=f"catalogue.pool.{event.id}.{item.key}.{item.pool}")
    wanted = None if chosen == NO_POOL else chosen
    if wanted == item.pool:
        return
    if runtime.apply_change({}, lambda session: catalogue_admin.set_item_pool(session, actor, event.id, item.key,
                                                                        wanted)) is not None:
        st.session_state[SAVED_KEY] = f"{item.name} draws on {chosen.lower() if wanted is None else chosen}."
        st.rerun()


def _pools(actor: Actor, event: EventSummary, pools: list[PoolForEdit], generation: int) -> None:
    """Shared stocks ("200 t-shirts whatever the size"): the list, and a form to add, resize or remove one."""
    st.subheader("Shared stock")
    st.caption("A number of units shared by several variants or items, on top of each variant's own stock.")
    if pools:
        st.dataframe([{"Name": pool.name, "Capacity": pool.capacity, "Sold": pool.sold, "Left": pool.remaining,
                       "Items": ", ".join(pool.item_keys) or "—"} for pool in pools], hide_index=True)
    form = f"catalogue.pools.{event.id}.{generation}"
    with st.form(form):
        slots: dict[str, DeltaGenerator] = {}
        name = st.text_input("Name", max_chars=200, placeholder="T-shirts", key=f"{form}.name",
                             help="The name of an existing shared stock changes its capacity.")
        slots["name"] = st.empty()
        capacity = st.number_input("Capacity", min_value=0, max_value=catalogue_admin.MAX_STOCK, value=100, step=1,
                                   key=f"{form}.capacity")
        slots["capacity"] = st.empty()
        save, remove = st.columns(2)
        existing = name.strip() if name.strip() in {pool.name for pool in pools} else None
        if save.form_submit_button("Save shared stock", type="primary"):
            if runtime.apply_change(slots, lambda session: catalogue_admin.save_pool(
                    session, actor, event.id, name=name, capacity=int(capacity), old_name=existing)) is not None:
                _saved(f"Saved the shared stock {name.strip()}.")
        if remove.form_submit_button("Remove shared stock"):
            if runtime.apply_change(slots, lambda session: catalogue_admin.delete_pool(
                    session, actor, event.id, name.strip()) or True) is not None:
                _saved(f"Removed the shared stock {name.strip()}.")


def _saved(message: str) -> None:
    st.session_state[SAVED_KEY] = message
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1
    st.rerun()


def _add_form(actor: Actor, event: EventSummary, generation: int) -> None:
    st.subheader("Add an item")
    form = f"catalogue.add.{event.id}.{generation}"
    with st.form(form):
        slots: dict[str, DeltaGenerator] = {}
        key = st.text_input("Key", max_chars=40, help="A short name for exports and show-if: lower-case letters, "
                                                      "digits and _, e.g. tshirt.", key=f"{form}.key")
        slots["key"] = st.empty()
        name = st.text_input("Name", max_chars=200, placeholder="T-shirt", key=f"{form}.name")
        slots["name"] = st.empty()
        description = st.text_area("Description", key=f"{form}.description")
        slots["description"] = st.empty()
        price = st.text_input("Price", placeholder="15.00", help="Leave empty when there is nothing to pay.",
                              key=f"{form}.price")
        slots["price"] = st.empty()
        max_per_order = st.number_input("Max per order", min_value=1, max_value=catalogue_admin.MAX_PER_ORDER, value=10,
                                        step=1, key=f"{form}.max_per_order")
        slots["max_per_order"] = st.empty()
        dimensions = st.text_area("Dimensions", placeholder=DIMENSIONS_PLACEHOLDER,
                                  help="One per line: a name, a colon, the options. Leave empty for an item that "
                                       "comes in one kind only.", key=f"{form}.dimensions")
        slots["dimensions"] = st.empty()
        if st.form_submit_button("Add item", type="primary"):
            _change(slots, lambda session: catalogue_admin.create_item_for(
                session, actor, event.id, key=key, name=name, description=description, price=price,
                max_per_order=int(max_per_order), dimensions=dimensions,
            ), f"Added {name.strip()}.")


def _change(slots: Mapping[str, DeltaGenerator], change: Callable[..., ItemForEdit], done: str) -> None:
    """Run one change; show each error beside its input, or refresh the page on success."""
    item = runtime.apply_change(slots, change)
    if item is None:
        return
    offered = sum(variant.active for variant in item.variants)
    st.session_state[SAVED_KEY] = f"{done} {offered} of {len(item.variants)} variants are offered."
    st.session_state[GENERATION_KEY] = st.session_state.get(GENERATION_KEY, 0) + 1
    st.rerun()
